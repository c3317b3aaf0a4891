// Module GRModels.
