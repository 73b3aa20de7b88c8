# New msgids of the jobspeed area (issue 14): the Job admin. The lead merges them into locale/.
ZH_HANS = {
    "progress": "进度",
    "page": "页面",
    "%(done)s done": "已完成 %(done)s",
    "%(done)s of %(total)s (%(percent)s%%)": "%(done)s / %(total)s（%(percent)s%%）",
    "Open the job's page": "打开任务页面",
}
