"""Markov-chain models: restricted Boltzmann machines (CD-k, PCD, AIS), deep belief nets and generative stochastic networks."""
