"""The sans-I/O core: build requests and parse answers of the three import APIs, as pure functions."""
