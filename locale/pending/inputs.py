"""New msgids of the inputs area (issue 13), with their Simplified Chinese; the lead merges them."""

ZH_HANS = {
    # predictor/features.py: the realistic minimum replaces "greater than 0"
    "%(label)s must be at least %(min)s %(unit)s.": "%(label)s必须至少为 %(min)s %(unit)s。",
    # predictor/forms.py: the measurement fields' hint and the foreign-digit error
    "At least {min} and at most {max} {unit}.": "至少 {min}，不超过 {max} {unit}。",
    "Write the {name} with the digits 0–9, such as 42.5.": "请用数字 0–9 填写{name}，例如 42.5。",
    # predictor/numbers.py: a CSV cell written with another script's digits
    "%(cell)r uses digits other than 0–9": "%(cell)r 使用了 0–9 以外的数字",
    # predictor/templatetags/model_versions.py: the models pages' scikit-learn note
    "Cannot be loaded: saved with scikit-learn %(saved)s.": "无法加载：保存时使用的是 scikit-learn %(saved)s。",
    "This server runs scikit-learn %(running)s, so it cannot load this version, saved with scikit-learn "
    "%(saved)s. Retrain it with this scikit-learn (python manage.py train_model), or pin scikit-learn "
    "%(series)s.*.": "本服务器运行的是 scikit-learn %(running)s，无法加载这个以 scikit-learn %(saved)s "
    "保存的版本。请用当前的 scikit-learn 重新训练（python manage.py train_model），或将 scikit-learn 固定为 "
    "%(series)s.*。",
}
# No longer used (the lead may drop them): "%(label)s must be greater than 0 %(unit)s.",
# "More than 0 and at most {max} {unit}."
