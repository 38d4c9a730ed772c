"""Example texts offered in the app."""

EXAMPLES: dict[str, str] = {
    "History of computing": (
        "Ada Lovelace worked with Charles Babbage in London on the Analytical Engine. "
        "In 1843 she published notes that Alan Turing later discussed at the University "
        "of Manchester."
    ),
    "Business news": (
        "Acme Corp opened an office in Paris on Monday and hired Grace Hopper, "
        "formerly of the United Nations, to run it."
    ),
    "Travel": (
        "We flew from Berlin to New York in June, then drove to Boston with Marie Curie's "
        "biography for company."
    ),
}
