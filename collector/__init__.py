"""dui-collector (see DESIGN.md); its issue has not landed yet."""
