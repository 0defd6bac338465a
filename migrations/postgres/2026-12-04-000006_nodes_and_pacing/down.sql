DROP TABLE send_pacing;
DROP TABLE nodes;
