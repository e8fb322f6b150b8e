"""placeholder"""
def lemmas_for(mv):
    return []
