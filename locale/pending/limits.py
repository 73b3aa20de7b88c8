# Limits (rate limits, log-in lock-outs, password reset, Idempotency-Key): new msgids and their
# Simplified-Chinese translations, for the lead to merge into locale/zh_hans_translations.py.
# "%(count)d second" is an ngettext pair (msgid_plural "%(count)d seconds"); Chinese has one form.
ZH_HANS = {
    "%(count)d second": "%(count)d 秒",
    "%(count)d seconds": "%(count)d 秒",
    "Forgotten your password?": "忘记密码？",
    "Password reset is not offered on this site; ask an administrator.": "本站不提供密码重置；请联系管理员。",
    "The %(header)s header must be 1 to %(limit)s printable ASCII characters.": "%(header)s 请求头必须是 1 到 %(limit)s 个可打印的 ASCII 字符。",
    "This %(header)s was already used with another request body; send a new key for a new request.": "此 %(header)s 已用于另一个请求体；新的请求请使用新的键。",
    "Too many batch items from your address: at most %(limit)s an hour, %(left)s left now. Try again in %(wait)s.": "来自您地址的批量条目过多：每小时最多 %(limit)s 条，目前还剩 %(left)s 条。请在 %(wait)s后重试。",
    "Too many failed log-ins for this username from your address. Try again in %(wait)s.": "您的地址对此用户名的登录失败次数过多。请在 %(wait)s后重试。",
    "Too many log-in attempts from your address: at most %(limit)s an hour. Try again in %(wait)s.": "来自您地址的登录尝试过多：每小时最多 %(limit)s 次。请在 %(wait)s后重试。",
    "Too many password reset requests from your address: at most %(limit)s an hour. Try again in %(wait)s.": "来自您地址的密码重置请求过多：每小时最多 %(limit)s 次。请在 %(wait)s后重试。",
    "Too many predictions from your address: at most %(limit)s a minute. Try again in %(wait)s.": "来自您地址的预测请求过多：每分钟最多 %(limit)s 次。请在 %(wait)s后重试。",
    "Too many requests": "请求过多",
    "Too many wrong API keys from your address: at most %(limit)s a minute. Try again in %(wait)s.": "来自您地址的错误 API 密钥过多：每分钟最多 %(limit)s 次。请在 %(wait)s后重试。",
    "expires at": "过期时间",
    "idempotency key": "幂等键",
    "idempotent request": "幂等请求",
    "idempotent requests": "幂等请求",
    "request sha256": "请求 sha256",
    "response": "响应",
    "scope": "范围",
    "sha256 of the API key or client address.": "API 密钥或客户端地址的 sha256。",
    "status": "状态码",
}
