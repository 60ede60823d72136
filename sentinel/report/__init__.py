"""What analysts see: the HTML report (:func:`write_report`) and the example queries."""
