"""The build pipeline: ``run.run_build`` runs the stages in ``order.BUILD_STAGES``.

``inputs`` turns settings into planner inputs, ``prepare`` holds the source, plan and patch
stages, ``steps`` runs a recipe's commands, ``summary`` writes the CI step summary,
``reproducible`` compares two clean builds.
"""
