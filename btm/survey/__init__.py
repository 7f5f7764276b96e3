"""The self-assessment survey: the question bank each role answers and the respondents
who answer it, from which a campaign sends workbooks and reads the answers back as
`survey` evidence."""

from btm.survey.bank import ROLES, Question, QuestionBank, load_bank
from btm.survey.respondents import RESPONDENTS_FILE, Respondent, load_respondents

__all__ = [
    "RESPONDENTS_FILE",
    "ROLES",
    "Question",
    "QuestionBank",
    "Respondent",
    "load_bank",
    "load_respondents",
]
