"""The evaluation half: events, CRM state, matching, writeback policy, conditions, activities,
tracking, audiences, the compiler and the joint planner. Pure: no I/O, no clock but a passed-in one."""
