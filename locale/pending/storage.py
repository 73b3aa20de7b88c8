# Shared object storage (issue 14: storage) adds no user-facing text: its messages are the artifact
# errors staff and logs already show in English (predictor/artifacts.py), and the pages it serves
# through are unchanged.
ZH_HANS: dict[str, str] = {}
