"""Sieve's review: a SQLite store of reviewer decisions, queue logic, and a Streamlit app that renders them."""
