"""CLI sub-commands: each parses arguments, calls the library, writes; no maths here."""
