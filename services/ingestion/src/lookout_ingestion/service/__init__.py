"""Ingestion's decisions beside the pipeline's steps: which incarnation of a partition's log the
consumer reads (``logs``). The steps themselves (decode, map, encode, batch, insert, dead letter,
flush) are modules of the package, composed in ``consumer.py``."""
