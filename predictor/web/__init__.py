"""The site's HTML pages: views by concern, forms, the form's answers and permanent links, URLs,
accounts and the template context.

On top, beside ``predictor.api``: neither imports the other; both ask the same domain functions.
"""
