"""purenet's command line (installed as ``purenet.cli``): thin commands over the library."""
