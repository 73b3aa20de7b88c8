"""New msgids from the bounds work (issue 13), for the lead to merge into zh_hans_translations.py.

No longer used (replaced by the "more than" message below):
"The file has %(rows)s rows; at most %(limit)s are accepted in one upload."
"""

ZH_HANS = {
    # predictor/batch.py
    "The file has more than %(limit)s rows; at most %(limit)s are accepted in one upload.": (
        "文件超过 %(limit)s 行；一次上传最多接受 %(limit)s 行。"
    ),
    "line %(line)s: %(reason)s": "第 %(line)s 行：%(reason)s",
    # predictor/middleware.py and templates/413.html
    "Send the request body with a Content-Length header; at most %(limit)s bytes are accepted.": (
        "请在请求中附带 Content-Length 标头发送请求体；最多接受 %(limit)s 字节。"
    ),
    "Request too large": "请求过大",
    "Length required": "需要提供长度",
    "Back": "返回",
    # templates/predictor/query_too_slow.html
    "This query took too long": "查询耗时过长",
    "The database was stopped after %(limit_seconds)s seconds so that the site stays responsive. "
    "Narrow the dates, or add a filter, and try again.": (
        "为保持网站响应，数据库查询在 %(limit_seconds)s 秒后已被中止。请缩小日期范围或添加筛选条件后重试。"
    ),
    "Back to the prediction history": "返回预测历史",
}
