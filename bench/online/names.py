"""The names the locustfile gives its requests, which the report orders by."""

REPAY = "POST repayment"
REPAY_SHARED = "POST repayment, shared loan"
REPAY_AGAIN = "POST repayment, same key again"
DETAIL = "GET API loan detail"
LIST = "GET API loan list"
PAGE = "GET borrower loan page"
SIGN_IN = "POST borrower sign-in"
TRIVIAL = "GET trivial view"

ORDER = [REPAY, REPAY_SHARED, REPAY_AGAIN, DETAIL, LIST, PAGE, TRIVIAL]
