# Switches on the pseudo-label diagnostics (configs/_base_/diagnostics/
# pseudo_labels.py) in every run of a suite that inherits this file:
#   _base_ = ['./_base_/default.py', './_base_/pseudo_label_diagnostics.py']
# A suite's own `overrides` dict is merged with this one ('+': the hook is a
# key the method configs lack). Methods without pseudo-labels (source-only,
# oracle, AdaptSegNet, ADVENT) run unchanged and their logs say that nothing
# was measured.
overrides = {
    '+default_hooks':
    dict(pseudo_label_diagnostics=dict(type='PseudoLabelDiagnosticsHook'))
}
