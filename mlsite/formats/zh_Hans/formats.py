# Simplified Chinese: the same rules as English (mlsite/formats/en/formats.py), written the Chinese way.
DATETIME_FORMAT = "Y年n月j日 H:i T"
DATE_FORMAT = "Y年n月j日"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "Y年n月"
MONTH_DAY_FORMAT = "n月j日"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
FIRST_DAY_OF_WEEK = 1  # 星期一
DATE_INPUT_FORMATS = ["%Y-%m-%d"]
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
