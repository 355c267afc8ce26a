"""The pgext playground: an example database to try pgext in."""
