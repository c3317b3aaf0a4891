// Module GREval.
