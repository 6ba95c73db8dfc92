"""Sample processors for ElasticCode. Each public function of a module can become a socket."""
