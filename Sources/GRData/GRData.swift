// Module GRData.
