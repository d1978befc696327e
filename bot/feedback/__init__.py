"""The feedback report: the result of a completed response, for the coordinator and management.

``scoring.feedback.feedback_facts`` computes every figure (pure); this package only presents
them: ``charts`` draws the two charts (PNG for mail, SVG for the web and print), ``render``
turns the facts into HTML (mail or web page) and plain text through the templates in
``mail_templates/feedback``, ``pdf`` prints the report to an A4 PDF with WeasyPrint, and
``mail`` builds the complete feedback message (text, HTML with inline charts, PDF).
"""
