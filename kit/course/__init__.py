"""The course as data and facts: where the kit's folders are, the stage catalogue, the hint ladders,
the learner's tree and its files, the hidden checks, the language the kit speaks. Imports nothing else of the kit."""
