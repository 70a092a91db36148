"""dui-dashboards (see DESIGN.md); its issue has not landed yet."""
