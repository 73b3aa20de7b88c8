# New msgids of the counter area (predictor.models.LimitCounter's verbose names); the lead merges them.
ZH_HANS = {
    "key": "键",
    "count": "计数",
    "rate-limit counter": "限流计数器",
    "rate-limit counters": "限流计数器",
}
