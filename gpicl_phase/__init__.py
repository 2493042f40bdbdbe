"""gpicl-phase: sweep, classify and browse the phases of general-purpose in-context learning."""

__version__ = "0.1.0"
