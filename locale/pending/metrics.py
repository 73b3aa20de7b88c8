"""zh-Hans translations for the metrics area's new strings (merged into the catalogue by the lead)."""

ZH_HANS = {
    "Request id: %(id)s": "请求编号：%(id)s",
    "Wrong metrics token.": "指标令牌错误。",
}
