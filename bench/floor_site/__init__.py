"""Bare apps for bench/throughput_ladder.py: how fast this machine serves a request with less in it.

Only the benchmark serves them; they are not part of the site.
"""
