"""Benchmarks: tcfs through its mount, side by side with the peer CLI and a warm boto3 floor.

``python -m bench`` (``make bench``) starts moto's S3 server on loopback behind a
request-counting proxy, measures latency, contention, freshness, request cost and
scale, and writes ``bench/results/results.{md,json,png}``.  It reports; it never
fails on a timing.
"""
