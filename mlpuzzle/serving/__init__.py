"""Serving: batch scoring, the request contract, the single-record fast path, traffic profiles, the HTTP service."""
