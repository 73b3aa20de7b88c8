# One way to show dates and numbers in English, on every page, in the admin and in the charts
# (Django's own English formats mix "Nov. 30, 2026, 12:03 a.m." with ISO dates). Times carry the
# time zone (the site's TIME_ZONE) so a reader abroad knows what "00:03" means.
DATETIME_FORMAT = "j M Y, H:i T"
DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j M"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
FIRST_DAY_OF_WEEK = 1  # Monday
# Date fields take ISO dates only: what the filters ask for ("YYYY-MM-DD") is what they accept.
DATE_INPUT_FORMATS = ["%Y-%m-%d"]
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
