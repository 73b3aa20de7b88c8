# Shadow, canary, comparison and promotion (issue 15, area "canary"): new msgids.
ZH_HANS = {
    # predictor/models.py: Prediction's second opinion, the Candidate row, the audit actions
    "second-opinion version": "第二意见版本",
    "second-opinion species": "第二意见物种",
    "second-opinion probability": "第二意见概率",
    "started a shadow": "启动了影子模型",
    "started a canary": "启动了金丝雀",
    "stopped a shadow or canary": "停止了影子模型或金丝雀",
    "shadow": "影子",
    "canary": "金丝雀",
    "mode": "方式",
    "canary share (%)": "金丝雀份额（%）",
    "started at": "开始时间",
    "candidate": "候选",
    "candidates": "候选",
    # predictor/candidates.py: why a change is refused
    "A canary's share is a whole percentage from 1 to 100.": "金丝雀的份额必须是 1 到 100 之间的整数百分比。",
    "There is no model v%(version)s.": "没有模型 v%(version)s。",
    "%(version)s is the active version already.": "%(version)s 已经是当前启用的版本。",
    "No shadow or canary is running.": "当前没有运行中的影子模型或金丝雀。",
    "v%(version)s is not the candidate; %(candidate)s is.": "v%(version)s 不是候选版本；候选版本是 %(candidate)s。",
    # predictor/comparison.py: what the labelled rows say
    "No row both versions scored is labelled yet: label the disagreements below.": (
        "两个版本都打过分的行还没有一行被标注：请标注下面的分歧。"
    ),
    "Too few labelled rows to say which is better: exactly one version was right on %(discordant)s labelled rows, "
    "and McNemar's test needs at least %(minimum)s. Label more disagreements.": (
        "已标注的行太少，无法判断哪个更好：只有 %(discordant)s 行已标注的行上恰有一个版本正确，"
        "而 McNemar 检验至少需要 %(minimum)s 行。请标注更多分歧。"
    ),
    "No significant difference yet (McNemar's test, p = %(p_value)s on %(discordant)s rows where exactly one was "
    "right): label more disagreements.": (
        "目前没有显著差异（McNemar 检验，在恰有一个版本正确的 %(discordant)s 行上 p = %(p_value)s）：请标注更多分歧。"
    ),
    "%(better)s is more accurate than %(worse)s on these rows (McNemar's test, p = %(p_value)s on %(discordant)s "
    "rows where exactly one was right).": (
        "在这些行上 %(better)s 比 %(worse)s 更准确（McNemar 检验，在恰有一个版本正确的 %(discordant)s 行上 "
        "p = %(p_value)s）。"
    ),
    # predictor/forms.py and predictor/views.py: the comparison page's buttons and their messages
    "Share of predictions (%)": "预测份额（%）",
    "Give the canary a share from 1 to 100%.": "请给金丝雀 1 到 100% 之间的份额。",
    "%(version)s now scores every prediction as a shadow.": "%(version)s 现在作为影子模型为每个预测打分。",
    "%(version)s now answers %(percent)s%% of single predictions as a canary.": (
        "%(version)s 现在作为金丝雀回答 %(percent)s%% 的单个预测。"
    ),
    "%(version)s is no longer tried; its stored answers stay for the comparison.": (
        "%(version)s 已停止试用；它已存储的答案保留用于比较。"
    ),
    # predictor/admin.py
    "Run the selected version as a shadow": "将所选版本作为影子模型运行",
    "Select exactly one version to run as a shadow.": "请只选择一个版本作为影子模型运行。",
    "Stop the shadow or canary": "停止影子模型或金丝雀",
    "Make the shadow or canary active (promote)": "启用影子模型或金丝雀（提升）",
    # templates/predictor/candidate_comparison.html
    "%(candidate)s against the active version": "%(candidate)s 与当前启用版本对比",
    "Model %(candidate)s": "模型 %(candidate)s",
    "%(candidate)s against active %(active)s": "%(candidate)s 与当前启用的 %(active)s 对比",
    "%(candidate)s is the active version: there is nothing to compare it with.": (
        "%(candidate)s 就是当前启用的版本：没有可与之比较的版本。"
    ),
    "No version is active: there is nothing to compare it with.": "没有启用的版本：没有可与之比较的版本。",
    "Running as a canary since %(since)s: it answers %(percent)s%% of single predictions, and %(active)s scores "
    "those beside it.": "自 %(since)s 起作为金丝雀运行：它回答 %(percent)s%% 的单个预测，%(active)s 同时为这些预测打分。",
    "Running as a shadow since %(since)s: it scores every prediction beside %(active)s; visitors see only "
    "%(active)s's answer.": "自 %(since)s 起作为影子模型运行：它与 %(active)s 一起为每个预测打分；访客只看到 %(active)s 的答案。",
    "Not running: %(other)s is the candidate now. The figures below are from the rows both scored before.": (
        "未运行：现在的候选版本是 %(other)s。下面的数字来自两者之前都打过分的行。"
    ),
    "Not running. The figures below are from the rows both versions scored before, if any.": (
        "未运行。下面的数字来自两个版本之前都打过分的行（如有）。"
    ),
    "Try, stop or promote": "试用、停止或提升",
    "Run as a shadow": "作为影子模型运行",
    "Run as a canary": "作为金丝雀运行",
    "Stop": "停止",
    "Make %(candidate)s active": "启用 %(candidate)s",
    "Making it active is your decision: the training gate is not asked again. These figures are recorded with it "
    "in the audit trail.": "是否启用由你决定：不会再次检查训练关口。这些数字会随之记录在审计记录中。",
    "On the same rows": "在相同的行上",
    "Rows both scored": "两者都打过分的行",
    "Agreement": "一致率",
    "Live accuracy of %(candidate)s": "%(candidate)s 的实际准确率",
    "Live accuracy of %(active)s": "%(active)s 的实际准确率",
    "McNemar's p-value": "McNemar 检验 p 值",
    "%(name)s: rows are the actual species, columns its answer": "%(name)s：行是实际物种，列是它的答案",
    "Disagreements": "分歧",
    "The newest row where they disagree. Labelling it is what lets the test decide.": (
        "最新的 %(shown)s 行分歧。标注它们才能让检验作出判断。"
    ),
    "Answered": "回答者",
    "No disagreement yet.": "还没有分歧。",
    # templates/predictor/model_detail.html
    "Compare with the active version on live traffic (shadow, canary, promote)": (
        "在实际流量上与当前启用版本比较（影子模型、金丝雀、提升）"
    ),
}
