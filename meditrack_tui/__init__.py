"""MediTrack: a patient health record system for the terminal.

The core package (everything here except ``app.py``) is free of any UI so that
tests, the CLI and the Textual app drive it the same way.
"""

__version__ = "0.1.0"
