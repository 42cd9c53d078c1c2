"""The CPU demo (launch/pipeline.py): a user of the library, not part of it."""
