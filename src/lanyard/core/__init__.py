"""Lanyard's shared core: identities, the screening crypto, signatures, auth tokens, logging.

Both services and the CLI build on this package; nothing here knows about either service's
storage.
"""
