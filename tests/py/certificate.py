"""Requests an ACM certificate (the emulator issues it at once): prints {"arn": ...}.

usage: certificate.py DOMAIN
"""
import json
import sys

import boto3

arn = boto3.client("acm").request_certificate(DomainName=sys.argv[1])["CertificateArn"]
json.dump({"arn": arn}, sys.stdout)
