"""Example applications built on factstream; each is importable and tested."""
