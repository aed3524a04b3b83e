"""nbgrader settings: the repository root is an nbgrader course directory.

The lessons in notebooks/ are the source of one assignment named "notebooks";
`make student` (nbgrader generate_assignment) writes the student edition to student/notebooks/.
"""

import os

c = get_config()  # noqa: F821 (nbgrader provides get_config when it reads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "."
c.CourseDirectory.release_directory = "student"
c.CourseDirectory.course_id = "mf-course"

# The student edition keeps the stored outputs that students read, except those of solution
# and check cells; cells tagged instructor-only (self-check answers) are removed.
c.TagRemovePreprocessor.enabled = True
c.TagRemovePreprocessor.remove_cell_tags = {"instructor-only"}
c.TagRemovePreprocessor.remove_all_outputs_tags = {"solution", "check"}
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "nbconvert.preprocessors.TagRemovePreprocessor",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# A placeholder that runs: the answer variable keeps its None, and the check says so.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE"}

# Autograding runs whole lessons: a cell may train for tens of seconds on a busy machine.
c.Execute.timeout = 600
