"""The ``machete`` command line: parse arguments, make one core call, render text or JSON."""
