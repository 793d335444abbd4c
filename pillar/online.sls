# Online/Scaleway Dedibox API. The token lives here and nowhere else.
# The lab points at a stand-in on its own network; the token is a fake value.
online:
  api_url: http://203.0.113.1:8080/api/v1
  api_token: lab-fake-token-not-a-secret
