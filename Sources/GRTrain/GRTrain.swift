// Module GRTrain.
