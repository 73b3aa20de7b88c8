# Permissions, API keys and the audit trail (issue 13, area "perms"): new or changed msgids.
ZH_HANS = {
    # predictor/permissions.py: the 403's reasons
    "Seeing the prediction history needs the “viewer” group or higher.": "查看预测历史需要“viewer”组或更高权限。",
    "Seeing the model versions needs the “viewer” group or higher.": "查看模型版本需要“viewer”组或更高权限。",
    "Labelling predictions needs the “labeller” group or higher.": "标注预测需要“labeller”组或更高权限。",
    "Predicting a batch needs the “operator” group.": "批量预测需要“operator”组。",
    "Your account does not have permission to do this.": "你的账户没有执行此操作的权限。",
    # predictor/api_keys.py: why a real key is refused (401)
    "This API key was revoked; ask an operator for a new one.": "此 API 密钥已被吊销；请向运维人员申请新密钥。",
    "This API key expired; ask an operator for a new one.": "此 API 密钥已过期；请向运维人员申请新密钥。",
    "The account that created this API key is no longer active staff; ask an operator for a new key.": (
        "创建此 API 密钥的账户已不再是有效的工作人员账户；请向运维人员申请新密钥。"
    ),
    # predictor/models.py: ApiKey.expires_at and AuditEvent
    "expires at": "过期时间",
    "Leave empty for a key that works until it is revoked.": "留空则密钥一直有效，直到被吊销。",
    "labelled predictions": "标注了预测",
    "activated a model version": "启用了模型版本",
    "trained a model version": "训练了模型版本",
    "created an API key": "创建了 API 密钥",
    "revoked an API key": "吊销了 API 密钥",
    "when": "时间",
    "who": "操作者",
    "username": "用户名",
    "what": "操作",
    "which": "对象",
    "details": "详情",
    "audit event": "审计事件",
    "audit events": "审计事件",
    "command line": "命令行",
    # predictor/admin.py
    "API key created": "API 密钥已创建",
    # templates/admin/predictor/apikey/key_created.html
    "Home": "首页",
    "The API key “%(name)s” was created. Copy its secret now: it is stored only as a hash and cannot be shown again.": (
        "API 密钥“%(name)s”已创建。请立即复制其密钥：系统只保存它的哈希值，之后无法再次显示。"
    ),
    "Secret": "密钥",
    "The key acts as %(owner)s, with that account's permissions, and stops working if the account is deactivated, "
    "deleted or loses staff status.": (
        "此密钥以 %(owner)s 的身份和该账户的权限执行操作；如果该账户被停用、删除或失去工作人员身份，密钥立即失效。"
    ),
    "It expires at %(when)s.": "它将于 %(when)s 过期。",
    "Send it as “Authorization: Bearer <key>” or “X-API-Key: <key>”.": (
        "请以“Authorization: Bearer <key>”或“X-API-Key: <key>”的形式发送。"
    ),
    "Back to the API keys": "返回 API 密钥列表",
}
