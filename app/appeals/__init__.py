"""Appeals (申诉): an agent contests a finding; a supervisor upholds or overturns it."""
