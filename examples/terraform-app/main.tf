# The configuration baton carries unchanged from environment to environment; what differs is
# in baton.auto.tfvars.json, which baton renders for each one (JSON: no value is ever read as
# an HCL template, whatever it holds).
terraform {
  required_version = ">= 1.5"
  # Every release is a new directory: the state must live in a remote backend. Give its
  # settings with `-backend-config` or the backend's environment variables.
  backend "s3" {}
}

variable "environment" {
  type = string
}

variable "bundle_digest" {
  type        = string
  description = "the bundle this configuration came in, as baton pinned it"
}

variable "replicas" {
  type = number
}

variable "db_password" {
  type      = string
  sensitive = true
}

# A stand-in for the real resources (terraform_data needs no provider).
resource "terraform_data" "orders" {
  input = {
    environment   = var.environment
    bundle_digest = var.bundle_digest
    replicas      = var.replicas
  }
}

output "environment" {
  value = terraform_data.orders.output.environment
}
